// nest3: handles "order shipped" from Kafka (HTTP + Kafka hybrid app).
import './tracer';
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload, Transport, MicroserviceOptions } from '@nestjs/microservices';
import { trace } from '@opentelemetry/api';
import { ORDER_SHIPPED, brokers, ensureTopics } from '../topics';

@Controller()
class ShippingController {
  @EventPattern(ORDER_SHIPPED)
  shipped(@Payload() order: { id?: number; carrier?: string }) {
    // Runs inside the process span of the message: its own spans are children of it.
    const span = trace.getTracer('nest3').startSpan('record-shipment');
    span.setAttribute('order.id', String(order.id));
    span.end();
  }
}

@Module({ controllers: [ShippingController] })
class AppModule {}

async function bootstrap() {
  await ensureTopics([ORDER_SHIPPED]);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.connectMicroservice<MicroserviceOptions>({
    transport: Transport.KAFKA,
    options: {
      client: { clientId: 'nest3', brokers },
      consumer: { groupId: process.env.GROUP_PREFIX ? `${process.env.GROUP_PREFIX}nest3` : 'nest3' },
      subscribe: { fromBeginning: true },
    },
  });
  await app.startAllMicroservices();
  await app.listen(Number(process.env.PORT ?? 3003), '127.0.0.1');
  console.log('nest3 ready');
}
bootstrap();
