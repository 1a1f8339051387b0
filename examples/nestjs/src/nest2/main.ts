// nest2: handles "order created" from Kafka and emits "order shipped"; answers quote requests
// (`@MessagePattern`, request-reply). HTTP + Kafka hybrid app.
import './tracer';
import 'reflect-metadata';
import { Controller, Inject, Module, OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientKafka, ClientsModule, EventPattern, MessagePattern, Payload, Transport, MicroserviceOptions } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { ORDER_CREATED, ORDER_QUOTE, ORDER_SHIPPED, brokers, ensureTopics } from '../topics';

@Controller()
class OrdersController implements OnModuleInit {
  constructor(@Inject('SHIPPING') private readonly kafka: ClientKafka) {}

  async onModuleInit() {
    await this.kafka.connect();
  }

  @EventPattern(ORDER_CREATED)
  async created(@Payload() order: { id?: number; item?: string }) {
    await lastValueFrom(this.kafka.emit(ORDER_SHIPPED, { ...order, carrier: 'post' }));
  }

  @MessagePattern(ORDER_QUOTE)
  quote(@Payload() request: { item?: string }) {
    // The reply Nest produces runs in this handler's process span.
    return { item: request.item, price: 12 };
  }
}

@Module({
  imports: [
    ClientsModule.register([
      { name: 'SHIPPING', transport: Transport.KAFKA, options: { client: { clientId: 'nest2-out', brokers }, producerOnlyMode: true } },
    ]),
  ],
  controllers: [OrdersController],
})
class AppModule {}

async function bootstrap() {
  await ensureTopics([ORDER_CREATED, ORDER_QUOTE]);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.connectMicroservice<MicroserviceOptions>({
    transport: Transport.KAFKA,
    options: {
      client: { clientId: 'nest2', brokers },
      consumer: { groupId: process.env.GROUP_PREFIX ? `${process.env.GROUP_PREFIX}nest2` : 'nest2' },
      subscribe: { fromBeginning: true },
    },
  });
  await app.startAllMicroservices();
  await app.listen(Number(process.env.PORT ?? 3002), '127.0.0.1');
  console.log('nest2 ready');
}
bootstrap();
