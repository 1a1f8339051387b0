"use strict";
var __decorate = (this && this.__decorate) || function (decorators, target, key, desc) {
    var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;
    if (typeof Reflect === "object" && typeof Reflect.decorate === "function") r = Reflect.decorate(decorators, target, key, desc);
    else for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;
    return c > 3 && r && Object.defineProperty(target, key, r), r;
};
var __metadata = (this && this.__metadata) || function (k, v) {
    if (typeof Reflect === "object" && typeof Reflect.metadata === "function") return Reflect.metadata(k, v);
};
var __param = (this && this.__param) || function (paramIndex, decorator) {
    return function (target, key) { decorator(target, key, paramIndex); }
};
Object.defineProperty(exports, "__esModule", { value: true });
// nest2: handles "order created" from Kafka and emits "order shipped" (HTTP + Kafka hybrid app).
require("./tracer");
require("reflect-metadata");
const common_1 = require("@nestjs/common");
const core_1 = require("@nestjs/core");
const microservices_1 = require("@nestjs/microservices");
const rxjs_1 = require("rxjs");
const topics_1 = require("../topics");
let OrdersController = class OrdersController {
    kafka;
    constructor(kafka) {
        this.kafka = kafka;
    }
    async onModuleInit() {
        await this.kafka.connect();
    }
    async created(order) {
        await (0, rxjs_1.lastValueFrom)(this.kafka.emit(topics_1.ORDER_SHIPPED, { ...order, carrier: 'post' }));
    }
};
__decorate([
    (0, microservices_1.EventPattern)(topics_1.ORDER_CREATED),
    __param(0, (0, microservices_1.Payload)()),
    __metadata("design:type", Function),
    __metadata("design:paramtypes", [Object]),
    __metadata("design:returntype", Promise)
], OrdersController.prototype, "created", null);
OrdersController = __decorate([
    (0, common_1.Controller)(),
    __param(0, (0, common_1.Inject)('SHIPPING')),
    __metadata("design:paramtypes", [microservices_1.ClientKafka])
], OrdersController);
let AppModule = class AppModule {
};
AppModule = __decorate([
    (0, common_1.Module)({
        imports: [
            microservices_1.ClientsModule.register([
                { name: 'SHIPPING', transport: microservices_1.Transport.KAFKA, options: { client: { clientId: 'nest2-out', brokers: topics_1.brokers }, producerOnlyMode: true } },
            ]),
        ],
        controllers: [OrdersController],
    })
], AppModule);
async function bootstrap() {
    await (0, topics_1.ensureTopics)([topics_1.ORDER_CREATED]);
    const app = await core_1.NestFactory.create(AppModule, { logger: ['error', 'warn'] });
    app.connectMicroservice({
        transport: microservices_1.Transport.KAFKA,
        options: {
            client: { clientId: 'nest2', brokers: topics_1.brokers },
            consumer: { groupId: process.env.GROUP_PREFIX ? `${process.env.GROUP_PREFIX}nest2` : 'nest2' },
            subscribe: { fromBeginning: true },
        },
    });
    await app.startAllMicroservices();
    await app.listen(Number(process.env.PORT ?? 3002), '127.0.0.1');
    console.log('nest2 ready');
}
bootstrap();
